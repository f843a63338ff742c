/** One chart's data, uPlot's column format: x values, then one array per series. */
export interface ChartData {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: string[];
  /** "line" or "points" (scatter). */
  kind: "line" | "points";
  data: number[][];
}
