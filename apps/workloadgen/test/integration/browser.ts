/// <reference lib="dom" />
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

/** Debian's Chromium (apt-get install chromium); the report test is skipped without it. */
export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);

export interface PageCheck {
  /** Console messages of type error, and uncaught page errors. */
  errors: string[];
  /** Canvas elements uPlot drew, with their pixel sizes. */
  canvases: { width: number; height: number }[];
  /** Charts the page's script reports as rendered (its `data-charts-rendered` attribute). */
  chartsRendered: number;
  /** Pixels per canvas in the report's series colours: a chart whose data was drawn has many. */
  seriesPixels: number[];
}

/** Opens an HTML file in headless Chromium (offline: no network) and reports what it rendered. */
export async function checkPage(file: string): Promise<PageCheck> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
      "--disable-dev-shm-usage",
    ],
  });
  try {
    const context = await browser.newContext({ offline: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
    await page.waitForSelector("body[data-charts-rendered]", { timeout: 10_000 });
    const result = await page.evaluate(() => {
      const canvases = [...document.querySelectorAll("canvas")];
      return {
        chartsRendered: Number(document.body.getAttribute("data-charts-rendered")),
        canvases: canvases.map((c) => ({ width: c.width, height: c.height })),
        seriesPixels: canvases.map((c) => {
          const ctx = c.getContext("2d");
          if (!ctx || c.width === 0 || c.height === 0) return 0;
          const data = ctx.getImageData(0, 0, c.width, c.height).data;
          // The report's first two series colours (#1f77b4, #d62728); axes and grid are grey.
          const colours = [
            [31, 119, 180],
            [214, 39, 40],
          ];
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3]! < 128) continue;
            for (const [r, g, b] of colours)
              if (Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) < 60)
                n++;
          }
          return n;
        }),
      };
    });
    return { errors, ...result };
  } finally {
    await browser.close();
  }
}
