export const tick = (): number => 1;
