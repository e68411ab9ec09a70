/** Durations live in src/durations.ts, beside config, which checks housekeeping durations with them. */
export { parseDuration, parseDurationSeconds } from '../durations.js';
