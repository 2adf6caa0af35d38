// The capture writers: packet sinks that stream to a file and rename it into place on finish().

export { PcapngWriter, type PcapngWriterOptions } from './pcapng-writer.js';
export { PcapWriter, type PcapWriterOptions, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_SNAPLEN } from './pcap-writer.js';
export { LINKTYPE_ETHERNET, type CaptureInterface, type PacketSink } from './sink.js';
// The capture readers: stream one packet at a time through one buffer, or two with read-ahead (see capture-reader.ts).
export { CaptureFormatError, MAX_BLOCK_BYTES, MAX_CAPLEN, nextPacket, type CaptureReader, type CaptureReaderOptions } from './capture-reader.js';
export { PcapReader } from './pcap-reader.js';
export { PcapngReader, type PcapngInterface } from './pcapng-reader.js';
export { openCapture, openCaptureStream, readCaptureBytes, readCaptureStream, isStreamPath, type CaptureSource } from './open-capture.js';
export * from './linktypes.js';
