export { WIRE_VERSION } from "./gen/wire";
