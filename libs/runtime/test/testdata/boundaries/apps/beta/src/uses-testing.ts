// Violation (testing-helpers-only-in-tests): shipped code loading a test factory.
import { fakeNow } from "../../../libs/mixed/src/testing";

export const stamp = fakeNow;
