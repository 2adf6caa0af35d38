// The capture writers: packet sinks that stream to a file and rename it into place on finish().

export { PcapngWriter, type PcapngWriterOptions } from './pcapng-writer.js';
export { PcapWriter, type PcapWriterOptions, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_SNAPLEN } from './pcap-writer.js';
export { LINKTYPE_ETHERNET, type CaptureInterface, type PacketSink } from './sink.js';
