import { parseAgentTrace } from "./src/domain/agent-trace";
try { parseAgentTrace('{"session_id":"s","role":"user","content":"a"}\n{"session_id":"s","role":"assistant","content":"b"}\n{"session_id":"s","role":"tool","content":"c","latency_ms":-5}'); } catch (e) { console.log((e as Error).message); }
