// Clean: a test may use another package's test factories.
import { fakeNow } from "../../../libs/mixed/src/testing";

export const stamp = fakeNow;
