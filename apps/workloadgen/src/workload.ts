import { loadTokenizer, readTextFile, UsageError } from "@symphony/common";
import sample from "../data/sample-conversations.json";
import type { Config } from "./config";
import {
  AgentSessionSource,
  agentTraceSource,
  DatasetSessionSource,
  mergeByStart,
  OpenLoopSource,
  PartitionedSource,
  parseAgentTrace,
  parseShareGpt,
  parseTrace,
  SyntheticChatSource,
  ThinkTimeModel,
  TraceFormatError,
  TraceSessionSource,
  type ClosedLoopOptions,
  type LoadRunnerOptions,
  type ParsedDataset,
  type SessionSource,
} from "./domain";

export const SAMPLE_DATASET_NAME = "(embedded sample-conversations.json)";

/** Reads and validates a ShareGPT dataset; every problem becomes one UsageError line naming the file. */
export function loadDataset(path: string | undefined, minTurns: number): ParsedDataset {
  let value: unknown = sample;
  const name = path ?? SAMPLE_DATASET_NAME;
  if (path !== undefined) {
    const text = readTextFile(path, "dataset");
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${path}: invalid JSON: ${(err as Error).message}`);
    }
  }
  let parsed: ParsedDataset;
  try {
    parsed = parseShareGpt(value, minTurns);
  } catch (err) {
    throw new UsageError(`${name}: ${(err as Error).message}`);
  }
  if (parsed.conversations.length === 0) {
    const why = Object.entries(parsed.skipped)
      .map(([reason, n]) => `${n} ${reason}`)
      .join(", ");
    throw new UsageError(
      `${name}: no usable conversations (${parsed.total} in file; skipped: ${why || "none"})`,
    );
  }
  return parsed;
}

export interface Workload {
  source: SessionSource;
  thinkTime: ThinkTimeModel;
  /** Facts for the summary (dataset skip counts, trace size...). */
  info: Record<string, unknown>;
}

/**
 * Builds the session source the config selects. Texts are counted, and prompts synthesized, with
 * --tokenizer (loaded here: the served model's vocabulary, so N tokens are N tokens to the engine).
 */
export function buildWorkload(config: Config): Workload {
  const whole = buildWholeWorkload(config);
  if (!config.shard || config.shard.count === 1) return whole;
  const { index, count } = config.shard;
  return {
    ...whole,
    source: new PartitionedSource(whole.source, index, count),
    info: { ...whole.info, shard: `${index}/${count}` },
  };
}

function buildWholeWorkload(config: Config): Workload {
  const tokenizer = loadTokenizer(config.tokenizer);
  const thinkTime = new ThinkTimeModel({
    readCharsPerSec: config.readSpeed,
    typeCharsPerSec: config.typeSpeed,
    speedJitter: config.speedJitter,
    kind: config.thinkTime,
  });
  switch (config.workload) {
    case "closed": {
      const sessions: ClosedLoopOptions = {
        seed: config.seed,
        tokenizer,
        maxOutputTokens: config.maxOutputTokens,
        priority: config.priority,
        stream: config.stream,
        numClients: config.numClients,
      };
      if (config.chatSynth) {
        return {
          thinkTime,
          source: new SyntheticChatSource(config.chatSynth, thinkTime, sessions),
          info: { dataset: "sharegpt-synth", sharegpt_synth: config.chatSynth, think_time: config.thinkTime },
        };
      }
      const dataset = loadDataset(config.dataset, config.minTurns);
      return {
        thinkTime,
        source: new DatasetSessionSource(dataset.conversations, thinkTime, sessions),
        info: {
          dataset: config.dataset ?? SAMPLE_DATASET_NAME,
          conversations_total: dataset.total,
          conversations_used: dataset.conversations.length,
          conversations_skipped: dataset.skipped,
        },
      };
    }
    case "open":
      return {
        thinkTime,
        source: new OpenLoopSource(config.clientProfiles, {
          seed: config.seed,
          totalDuration: config.totalDuration,
          maxOutputTokensCap: config.maxOutputTokens,
        }),
        info: {
          profiles: config.clientProfiles.map((p) => p.profile_name),
          total_duration_s: config.totalDuration,
        },
      };
    case "agent": {
      if (config.agentTrace) {
        const path = config.agentTrace;
        let trace;
        try {
          trace = parseAgentTrace(readTextFile(path, "agent trace"), config.seed, tokenizer);
        } catch (err) {
          if (err instanceof TraceFormatError) throw new UsageError(`${path}: ${err.message}`);
          throw err;
        }
        return {
          thinkTime,
          source: agentTraceSource(trace),
          info: {
            agent_trace: path,
            agent_sessions: trace.sessions.length,
            subagent_sessions: trace.subAgentSessions,
            trace_messages: trace.messages,
          },
        };
      }
      const agents = new AgentSessionSource(config.agentProfiles, {
        seed: config.seed,
        tokenizer,
        totalDuration: config.totalDuration,
        maxOutputTokensCap: config.maxOutputTokens,
      });
      // client_profiles beside agent_profiles: chat and agent sessions in one run, by start time.
      const chat =
        config.clientProfiles.length > 0
          ? new OpenLoopSource(config.clientProfiles, {
              seed: config.seed,
              totalDuration: config.totalDuration,
              maxOutputTokensCap: config.maxOutputTokens,
            })
          : undefined;
      return {
        thinkTime,
        source: chat ? mergeByStart([agents, chat]) : agents,
        info: {
          agent_profiles: config.agentProfiles.map((p) => p.profile_name),
          ...(chat ? { profiles: config.clientProfiles.map((p) => p.profile_name) } : {}),
          total_duration_s: config.totalDuration,
        },
      };
    }
    case "trace": {
      const path = config.trace!;
      let records;
      try {
        records = parseTrace(readTextFile(path, "trace"), config.traceFormat);
      } catch (err) {
        if (err instanceof TraceFormatError) throw new UsageError(`${path}: ${err.message}`);
        throw err;
      }
      return {
        thinkTime,
        source: new TraceSessionSource(records, config.maxOutputTokens),
        info: {
          trace: path,
          trace_requests: records.length,
          trace_span_s: records[records.length - 1]!.offsetUs / 1e6,
        },
      };
    }
  }
}

/**
 * Options of one LoadRunner taken from the config (live: one per sending thread; also the
 * simulator's), so both read the flags the same way.
 */
export function runnerOptions(config: Readonly<Config>, runId: string): LoadRunnerOptions {
  return {
    mode: config.workload === "closed" ? "closed" : "open",
    concurrency: config.numClients,
    rampUpUs: config.rampUp * 1e6,
    maxRequests: config.maxRequests,
    durationUs: config.duration * 1e6,
    timeScale: config.timeScale,
    hints: config.hints,
    runId,
  };
}
