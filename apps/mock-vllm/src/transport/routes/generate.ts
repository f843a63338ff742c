import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { FaultInjector } from "../../domain";
import { ApiError, errorBody } from "../api-error";
import { CompletionResponder, type Job } from "../completion-responder";
import type { HttpServerDeps } from "../http-server-deps";
import { chatCompletionRequest, completionRequest } from "../openai-schema";
import { chatPromptIds, checkModel, checkTokenIds, parseBody } from "../request-checks";

type FaultDecision = ReturnType<FaultInjector["decide"]>;

/** The generation fields both routes share. */
interface GenerationBody {
  model?: string | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  min_tokens?: number | null;
  ignore_eos?: boolean | null;
  n?: number | null;
  expected_response?: string | null;
}

/** `x-symphony-resident-tokens`: a non-negative integer, or 0 when absent or malformed. */
function residentTokens(value: string | string[] | undefined): number {
  const n = typeof value === "string" ? Number(value) : 0;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** The expected response may also come as a header (percent-encoded UTF-8). */
function expectedFromHeader(value: string | string[] | undefined): string | undefined {
  if (typeof value !== "string") return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ApiError(400, "x-expected-response header must be percent-encoded UTF-8");
  }
}

/** vLLM's length checks and max_tokens default (max-model-len minus the prompt). */
function resolveMaxTokens(maxLen: number, promptLen: number, requested: number | null | undefined): number {
  if (requested != null) {
    if (promptLen + requested > maxLen)
      throw new ApiError(
        400,
        `'max_tokens' or 'max_completion_tokens' is too large: ${requested}. This model's maximum context ` +
          `length is ${maxLen} tokens and your request has ${promptLen} input tokens ` +
          `(${requested} > ${maxLen} - ${promptLen}).`,
        "max_tokens",
      );
    return requested;
  }
  if (promptLen >= maxLen)
    throw new ApiError(
      400,
      `This model's maximum context length is ${maxLen} tokens. However, your request has ${promptLen} ` +
        `input tokens. Please reduce the length of the input messages.`,
      "messages",
    );
  return maxLen - promptLen;
}

/** POST /v1/chat/completions and /v1/completions: checked, planned, then streamed by the engine. */
export function registerGenerateRoutes(
  app: FastifyInstance,
  deps: HttpServerDeps,
  nowSeconds: () => number,
): void {
  const { config, engine, tokens, template, planner, faults } = deps;

  /** The checks vLLM makes before it schedules a request, the output plan and the fault decision. */
  const prepare = (
    kind: Job["kind"],
    idPrefix: string,
    body: GenerationBody,
    promptTokenIds: number[],
    requestedMaxTokens: number | null | undefined,
    headers: IncomingHttpHeaders,
  ): { job: Job; decision: FaultDecision } => {
    const headerExpected = expectedFromHeader(headers["x-expected-response"]);
    const model = checkModel(config, body.model);
    if (body.n != null && body.n !== 1)
      throw new ApiError(400, `n must be 1: the mock serves one choice per request, got n=${body.n}`, "n");
    // vLLM's input check, e.g. an empty completion prompt without BOS.
    if (promptTokenIds.length === 0) throw new ApiError(400, "The decoder prompt cannot be empty");
    const maxTokens = resolveMaxTokens(config.maxModelLen, promptTokenIds.length, requestedMaxTokens);
    const minTokens = body.min_tokens ?? 0;
    if (minTokens > maxTokens)
      throw new ApiError(
        400,
        `min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${minTokens}.`,
        "min_tokens",
      );
    const plan = planner.plan({
      promptTokenIds,
      expectedResponse: body.expected_response ?? headerExpected,
      maxTokens,
      minTokens,
      ignoreEos: body.ignore_eos ?? false,
    });
    const decision = faults.decide(plan.tokenIds.length);
    if (decision.errorStatus)
      throw new ApiError(
        decision.errorStatus,
        `injected fault: HTTP ${decision.errorStatus} (--fault-error-rate)`,
      );
    const job: Job = {
      kind,
      id: `${idPrefix}-${randomUUID().replaceAll("-", "")}`,
      created: nowSeconds(),
      model,
      promptTokenIds,
      plan,
      pieces: tokens.streamPieces(plan.tokenIds),
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
      externalKvTokens: config.kvConnector ? residentTokens(headers["x-symphony-resident-tokens"]) : 0,
      maxTokens,
    };
    return { job, decision };
  };

  /** Hands the job to the engine (after an injected latency spike, if any) and streams its output. */
  const run = (job: Job, reply: FastifyReply, decision: FaultDecision) => {
    reply.hijack();
    const res = reply.raw;
    let submitted = false;
    let spikeTimer: NodeJS.Timeout | undefined;
    const responder = new CompletionResponder(
      job,
      res,
      job.stream ? decision.dropAfterTokens : -1,
      () => engine.abort(job.id),
      config.enablePromptTokensDetails,
    );
    res.on("close", () => {
      if (responder.finished) return;
      if (spikeTimer) clearTimeout(spikeTimer);
      if (submitted) engine.abort(job.id);
    });
    if (job.stream) responder.startStream();
    const submit = () => {
      spikeTimer = undefined;
      if (res.destroyed) return;
      submitted = true;
      try {
        engine.submit(
          {
            id: job.id,
            promptTokenIds: job.promptTokenIds,
            outputTokenIds: job.plan.tokenIds,
            finishReason: job.plan.finishReason,
            externalKvTokens: job.externalKvTokens,
            maxTokens: job.maxTokens,
          },
          responder,
        );
      } catch (err) {
        // Only reachable when the engine is closed (shutdown) or a limit check above was missed.
        const msg = err instanceof Error ? err.message : String(err);
        if (res.headersSent) res.end();
        else res.writeHead(503, { "content-type": "application/json" }).end(errorBody(503, msg));
      }
    };
    if (decision.extraDelayMs > 0) spikeTimer = setTimeout(submit, decision.extraDelayMs / config.timeScale);
    else submit();
  };

  app.post("/v1/chat/completions", async (req, reply) => {
    const body = parseBody(chatCompletionRequest, req.body);
    const prompt = chatPromptIds(template, body);
    const { job, decision } = prepare(
      "chat",
      "chatcmpl",
      body,
      prompt,
      body.max_completion_tokens ?? body.max_tokens,
      req.headers,
    );
    run(job, reply, decision);
  });

  app.post("/v1/completions", async (req, reply) => {
    const body = parseBody(completionRequest, req.body);
    const p = body.prompt;
    let prompt: number[];
    const bos = body.add_special_tokens ?? true;
    if (typeof p === "string") prompt = template.completionPrompt(p, bos);
    else if (p.length !== 1 && (typeof p[0] === "string" || Array.isArray(p[0])))
      throw new ApiError(400, `one prompt per request is supported, got ${p.length}`, "prompt");
    else if (typeof p[0] === "string") prompt = template.completionPrompt(p[0], bos);
    else {
      // Token ids past the vocabulary: vLLM's 400 (the engine keeps ids as 32-bit integers).
      prompt = Array.isArray(p[0]) ? [...p[0]] : [...(p as number[])];
      checkTokenIds(prompt, tokens, template, "prompt");
    }
    const { job, decision } = prepare("text", "cmpl", body, prompt, body.max_tokens, req.headers);
    run(job, reply, decision);
  });
}
