// The HTML report: a recorder of each policy's packets and the page made from a run's report.
export { recordPolicies, PacketRecorder, DEFAULT_MAX_CONNECTIONS, type Recording, type RecordedConnection, type RecordedPacket } from './record.js';
export { renderHtmlReport, type HtmlScenarioRun, type HtmlReportOptions } from './report.js';
export { writeHtmlReport } from './write.js';
