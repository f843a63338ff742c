import winston from "winston";

export const log = winston.createLogger();
