#!/usr/bin/env node
// Prints vitest's totals as one plain line ("N passed, N failed, N skipped") at the very end of
// `npm test`, after the packaging checks, so CI logs end with the count.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync('.tmp/vitest.json', 'utf8'));
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
process.exit(report.numFailedTests === 0 && report.numTotalTests > 0 ? 0 : 1);
