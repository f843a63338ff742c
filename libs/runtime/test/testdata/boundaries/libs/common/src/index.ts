// Clean: the pure core.
export const clock = (): number => 0;
