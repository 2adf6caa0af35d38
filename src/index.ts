// bindlab as a library: load a scenario, run it under policies, get the JSON report's shape back.
// Nothing here prints or exits.
export { loadScenarioFile as loadScenario, loadScenarioFile, parseScenario } from './scenario/load.js';
export { runScenario, resolveArpMacs, capturePath, policiesFor, allPassed } from './runner.js';
export type { RunScenarioOptions, ScenarioReport, CaptureFormat } from './runner.js';
export { runPolicy, START_EPOCH_SECONDS } from './emu/engine.js';
export type { RunOptions } from './emu/engine.js';
export { getPolicy, allPolicies } from './emu/policy/index.js';
export { BUILTIN_POLICIES } from './emu/policy/names.js';
export type { Policy } from './emu/policy/types.js';
export type { PolicyRun, StepResult } from './emu/results.js';
export * from './scenario/types.js';
export { PcapngWriter, PcapWriter } from './pcap/index.js';
// The capture readers (what `bindlab replay` streams captures with).
export { openCapture, readCaptureBytes, PcapReader, PcapngReader, CaptureFormatError, MAX_CAPLEN } from './pcap/index.js';
export { nextPacket } from './pcap/capture-reader.js';
export type { CaptureReader, CaptureReaderOptions, PcapngInterface } from './pcap/index.js';
export type { PacketSink, CaptureInterface } from './pcap/sink.js';
// Regression testing (what `bindlab test` and `bindlab verify-kernel` are made of).
export { testScenarios, testScenarioFile, collectScenarioFiles, failuresOf, scenarioPassed, summaryExitCode } from './testing/suite.js';
export type { TestOptions, TestSummary, ScenarioOutcome, StepFailure, GoldenCheck } from './testing/suite.js';
export { renderJUnit } from './testing/junit.js';
export type { JUnitOptions } from './testing/junit.js';
export { rewriteExpectations } from './testing/update.js';
export type { ExpectationChange } from './testing/update.js';
export { compareGolden, updateGolden, firstDifference } from './testing/golden.js';
export type { GoldenOutcome, GoldenDifference } from './testing/golden.js';
export { compareWithKernel, compareRuns, renderSideBySide } from './testing/kernel-compare.js';
export type { KernelComparison, KernelComparisonRow } from './testing/kernel-compare.js';
export { kernelAvailable, runOnKernel } from './kernel/run-kernel.js';
export type { KernelStepResult, KernelRunOptions } from './kernel/run-kernel.js';
