// Container health probe (the image's HEALTHCHECK): one HTTP GET with Node's built-in fetch, so it
// works on node:24-slim (no wget/curl) and on the local busybox base alike.
//   exit 0: the service answered 2xx within the timeout; exit 1 otherwise (reason on stderr).
// SYMPHONY_HEALTH_URL overrides the per-app default below (compose sets it when it changes ports).
// The defaults match each app's default listening ports.
/* global fetch, AbortSignal */
"use strict";

const defaults = {
  "mock-vllm": "http://127.0.0.1:8000/health",
  scheduler: "http://127.0.0.1:9464/metrics",
  "node-scheduler": "http://127.0.0.1:9461/metrics",
};

const app = process.env.SYMPHONY_APP || "";
const url = process.env.SYMPHONY_HEALTH_URL || defaults[app];
if (!url) {
  // workloadgen is a batch CLI without a listener: running means healthy.
  process.exit(0);
}
const timeoutMs = Number(process.env.SYMPHONY_HEALTH_TIMEOUT_MS || 2000);

fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).then(
  (res) => {
    if (res.ok) process.exit(0);
    console.error(`unhealthy: GET ${url} -> HTTP ${res.status}`);
    process.exit(1);
  },
  (err) => {
    console.error(`unhealthy: GET ${url} failed: ${(err.cause && err.cause.code) || err.message}`);
    process.exit(1);
  },
);
