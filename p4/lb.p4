/*
 * P4ContainerFlow load balancer for BMv2 (P4_16, v1model).
 *
 * Clients connect to a virtual IP (VIP). The switch where their traffic enters picks a backend for
 * each new TCP connection (SYN) from a slot table, remembers the choice per connection in a
 * register, and keeps using it for the connection's lifetime. A backend is a small id whose
 * address lives in one table entry, so migrating a server to another IP is one MODIFY.
 * Everything else IPv4 is routed by longest-prefix match on the destination. ICMP errors a backend
 * sends about a connection are translated like its segments (RFC 5508, as a NAT does): the client
 * sees them come from the VIP, about a packet it sent to the VIP, and can match them to its socket.
 * The design and the control-plane API are described in p4/README.md.
 */
#include <core.p4>
#include <v1model.p4>

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<8>  IP_PROTO_TCP   = 6;
const bit<8>  IP_PROTO_ICMP  = 1;
const bit<8>  ICMP_DEST_UNREACHABLE = 3;
const bit<8>  TCP_FLAG_SYN   = 0x02;
const bit<8>  TCP_FLAG_ACK   = 0x10;

/* Entries of the per-connection memory (flow_backend, flow_signature). */
const bit<32> FLOW_MEMORY_SIZE = 65536;
/* Backend ids are 1..255; 0 marks an empty flow memory entry. */
const bit<32> BACKEND_COUNTER_SIZE = 256;

/* Indexes of the `drops` counter: why a packet was dropped. */
const bit<32> DROP_NOT_IPV4       = 0;  /* ARP, IPv6, ...: hosts use static ARP entries */
const bit<32> DROP_BAD_HEADER     = 1;  /* parser error, e.g. IPv4 ihl < 5 or truncated */
const bit<32> DROP_TTL_EXPIRED    = 2;  /* ttl <= 1 on arrival (no ICMP is sent) */
const bit<32> DROP_NO_ROUTE       = 3;  /* no routes entry for the destination */
const bit<32> DROP_VIP_NOT_SERVICE = 4; /* to the VIP but not TCP to its service port */
const bit<32> DROP_NO_BACKEND     = 5;  /* no slot entry, or the chosen backend id has no entry */
const bit<32> DROP_COUNTER_SIZE   = 8;

/* Indexes of the `flow_events` counter. */
const bit<32> FLOW_NEW  = 0;  /* SYN: backend chosen from the slots and remembered */
const bit<32> FLOW_HIT  = 1;  /* later packet: the remembered backend was used */
const bit<32> FLOW_MISS = 2;  /* later packet with nothing remembered (or a hash collision): slots used */
const bit<32> FLOW_EVENT_COUNTER_SIZE = 4;

typedef bit<9>  port_t;
typedef bit<48> mac_t;
typedef bit<32> ipv4_addr_t;
typedef bit<8>  backend_id_t;
typedef bit<16> slot_t;

header ethernet_t {
    mac_t   dstAddr;
    mac_t   srcAddr;
    bit<16> etherType;
}

header ipv4_t {
    bit<4>      version;
    bit<4>      ihl;
    bit<8>      diffserv;
    bit<16>     totalLen;
    bit<16>     identification;
    bit<3>      flags;
    bit<13>     fragOffset;
    bit<8>      ttl;
    bit<8>      protocol;
    bit<16>     hdrChecksum;
    ipv4_addr_t srcAddr;
    ipv4_addr_t dstAddr;
}

/* IPv4 options (ihl > 5), kept so that the header checksum covers them. */
header ipv4_options_t {
    varbit<320> options;
}

/* Only the fixed 20 bytes: TCP options are part of the checksummed payload. */
header tcp_t {
    bit<16> srcPort;
    bit<16> dstPort;
    bit<32> seqNo;
    bit<32> ackNo;
    bit<4>  dataOffset;
    bit<4>  res;
    bit<8>  flags;
    bit<16> window;
    bit<16> checksum;
    bit<16> urgentPtr;
}

header icmp_t {
    bit<8>  type;
    bit<8>  code;
    bit<16> checksum;
    bit<32> rest;
}

/* The first 8 bytes of the TCP header an ICMP error quotes (all it is sure to carry). */
header quoted_tcp_t {
    bit<16> srcPort;
    bit<16> dstPort;
    bit<32> seqNo;
}

struct headers_t {
    ethernet_t     ethernet;
    ipv4_t         ipv4;
    ipv4_options_t ipv4_options;
    tcp_t          tcp;
    /* An ICMP destination-unreachable error and the packet it quotes (TCP, no IP options). */
    icmp_t         icmp;
    ipv4_t         quoted_ipv4;
    quoted_tcp_t   quoted_tcp;
}

struct metadata_t {
    /* TCP segment length (header + data) for the checksum pseudo-header. */
    bit<16>      tcp_length;
    /* Set when addresses were rewritten, so the TCP checksum must be recomputed. */
    bit<1>       rewritten;
    bit<16>      service_port;
    slot_t       slot_count;
    slot_t       slot;
    backend_id_t backend_id;
    bit<32>      flow_index;
    bit<16>      flow_signature;
    /* backend_sources' key: a segment's source, or the destination an ICMP error quotes. */
    ipv4_addr_t  source_addr;
    bit<16>      source_port;
    ipv4_addr_t  vip_addr;
}

error { BadIpv4Header }

parser LbParser(packet_in packet, out headers_t hdr, inout metadata_t meta,
                inout standard_metadata_t standard_metadata) {
    state start {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        verify(hdr.ipv4.version == 4 && hdr.ipv4.ihl >= 5, error.BadIpv4Header);
        transition select(hdr.ipv4.ihl) {
            5: parse_l4;
            default: parse_ipv4_options;
        }
    }

    state parse_ipv4_options {
        packet.extract(hdr.ipv4_options, ((bit<32>)hdr.ipv4.ihl - 5) * 32);
        transition parse_l4;
    }

    state parse_l4 {
        /* Non-first fragments carry no TCP header. */
        transition select(hdr.ipv4.protocol, hdr.ipv4.fragOffset) {
            (IP_PROTO_TCP, 0): parse_tcp;
            (IP_PROTO_ICMP, 0): parse_icmp;
            default: accept;
        }
    }

    state parse_icmp {
        packet.extract(hdr.icmp);
        transition select(hdr.icmp.type) {
            ICMP_DEST_UNREACHABLE: parse_quoted_ipv4;
            default: accept;
        }
    }

    state parse_quoted_ipv4 {
        packet.extract(hdr.quoted_ipv4);
        transition select(hdr.quoted_ipv4.ihl, hdr.quoted_ipv4.protocol) {
            (5, IP_PROTO_TCP): parse_quoted_tcp;
            default: accept;
        }
    }

    state parse_quoted_tcp {
        packet.extract(hdr.quoted_tcp);
        transition accept;
    }

    state parse_tcp {
        packet.extract(hdr.tcp);
        transition accept;
    }
}

control LbVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    /* Receivers verify checksums; the switch forwards what it gets. */
    apply { }
}

control LbIngress(inout headers_t hdr, inout metadata_t meta,
                  inout standard_metadata_t standard_metadata) {
    counter(DROP_COUNTER_SIZE, CounterType.packets) drops;
    counter(BACKEND_COUNTER_SIZE, CounterType.packets_and_bytes) backend_packets;
    counter(FLOW_EVENT_COUNTER_SIZE, CounterType.packets) flow_events;

    /* Per-connection memory, indexed by a hash of the client's 5-tuple: the backend id chosen at
     * SYN time, and a second, independent hash to tell colliding connections apart. */
    register<backend_id_t>(FLOW_MEMORY_SIZE) flow_backend;
    register<bit<16>>(FLOW_MEMORY_SIZE) flow_signature;

    action drop_packet(bit<32> reason) {
        drops.count(reason);
        mark_to_drop(standard_metadata);
    }

    /* L3 forwarding: egress port and next-hop MAC (the host, or the next switch's port). */
    action forward(port_t port, mac_t dst_mac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.dstAddr = dst_mac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    action no_route() {
        drop_packet(DROP_NO_ROUTE);
    }

    table routes {
        key = { hdr.ipv4.dstAddr: lpm @name("dst_addr"); }
        actions = { forward; no_route; }
        default_action = no_route();
        size = 4096;
    }

    /* The VIP: its TCP service port and how many slots the slot table has. */
    action set_service(bit<16> service_port, slot_t slot_count) {
        meta.service_port = service_port;
        meta.slot_count = slot_count;
    }

    table vip {
        key = { hdr.ipv4.dstAddr: exact @name("dst_addr"); }
        actions = { set_service; NoAction; }
        default_action = NoAction();
        size = 16;
    }

    /* New connections: slot (hash of the 5-tuple modulo slot_count) -> backend id. */
    action set_slot_backend(backend_id_t backend_id) {
        meta.backend_id = backend_id;
    }

    table slots {
        key = { meta.slot: exact @name("slot"); }
        actions = { set_slot_backend; NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    /* Backend id -> current address. Migration MODIFYs this entry; routes does the rest. */
    action set_backend(ipv4_addr_t backend_ip) {
        hdr.ipv4.dstAddr = backend_ip;
        meta.rewritten = 1;
    }

    table backends {
        key = { meta.backend_id: exact @name("backend_id"); }
        actions = { set_backend; NoAction; }
        default_action = NoAction();
        size = 256;
    }

    /* Server -> client: a backend's current address and service port -> the VIP. */
    action set_src_to_vip(ipv4_addr_t vip_addr) {
        meta.vip_addr = vip_addr;
        meta.rewritten = 1;
    }

    table backend_sources {
        key = {
            meta.source_addr: exact @name("src_addr");
            meta.source_port: exact @name("src_port");
        }
        actions = { set_src_to_vip; NoAction; }
        default_action = NoAction();
        size = 256;
    }

    action hash_flow() {
        hash(meta.flow_index, HashAlgorithm.crc32, 32w0,
             { hdr.ipv4.srcAddr, hdr.ipv4.dstAddr, hdr.ipv4.protocol, hdr.tcp.srcPort, hdr.tcp.dstPort },
             FLOW_MEMORY_SIZE);
        hash(meta.flow_signature, HashAlgorithm.crc16, 16w0,
             { hdr.ipv4.srcAddr, hdr.ipv4.dstAddr, hdr.ipv4.protocol, hdr.tcp.srcPort, hdr.tcp.dstPort },
             32w65536);
    }

    action pick_slot() {
        hash(meta.slot, HashAlgorithm.crc32, 16w0,
             { hdr.ipv4.srcAddr, hdr.ipv4.dstAddr, hdr.ipv4.protocol, hdr.tcp.srcPort, hdr.tcp.dstPort },
             meta.slot_count);
    }

    apply {
        if (standard_metadata.parser_error != error.NoError) {
            drop_packet(DROP_BAD_HEADER);
            return;
        }
        if (!hdr.ipv4.isValid()) {
            drop_packet(DROP_NOT_IPV4);
            return;
        }
        if (hdr.ipv4.ttl <= 1) {
            drop_packet(DROP_TTL_EXPIRED);
            return;
        }

        if (vip.apply().hit) {
            if (!hdr.tcp.isValid() || hdr.tcp.dstPort != meta.service_port || meta.slot_count == 0) {
                drop_packet(DROP_VIP_NOT_SERVICE);
                return;
            }
            hash_flow();
            bool is_syn = (hdr.tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
            bool use_slots = is_syn;
            if (!is_syn) {
                bit<16> stored_signature;
                flow_backend.read(meta.backend_id, meta.flow_index);
                flow_signature.read(stored_signature, meta.flow_index);
                if (meta.backend_id != 0 && stored_signature == meta.flow_signature) {
                    flow_events.count(FLOW_HIT);
                } else {
                    meta.backend_id = 0;
                    use_slots = true;
                    flow_events.count(FLOW_MISS);
                }
            }
            /* BMv2 applies a table from one place only, hence the flag. */
            if (use_slots) {
                pick_slot();
                slots.apply();
            }
            if (is_syn && meta.backend_id != 0) {
                flow_backend.write(meta.flow_index, meta.backend_id);
                flow_signature.write(meta.flow_index, meta.flow_signature);
                flow_events.count(FLOW_NEW);
            }
            if (meta.backend_id == 0) {
                drop_packet(DROP_NO_BACKEND);
                return;
            }
            if (!backends.apply().hit) {
                drop_packet(DROP_NO_BACKEND);
                return;
            }
            backend_packets.count((bit<32>)meta.backend_id);
        } else if (hdr.tcp.isValid() || hdr.quoted_tcp.isValid()) {
            /* A backend's segment, or its ICMP error about one it received from a client. */
            if (hdr.tcp.isValid()) {
                meta.source_addr = hdr.ipv4.srcAddr;
                meta.source_port = hdr.tcp.srcPort;
            } else {
                meta.source_addr = hdr.quoted_ipv4.dstAddr;
                meta.source_port = hdr.quoted_tcp.dstPort;
            }
            if (backend_sources.apply().hit) {
                hdr.ipv4.srcAddr = meta.vip_addr;
                if (hdr.quoted_tcp.isValid()) {
                    hdr.quoted_ipv4.dstAddr = meta.vip_addr;
                }
            }
        }

        routes.apply();

        if (hdr.tcp.isValid()) {
            meta.tcp_length = hdr.ipv4.totalLen - (((bit<16>)hdr.ipv4.ihl) << 2);
        }
    }
}

control LbEgress(inout headers_t hdr, inout metadata_t meta,
                 inout standard_metadata_t standard_metadata) {
    /* Every packet leaves with the MAC of its egress port as source. */
    action set_src_mac(mac_t src_mac) {
        hdr.ethernet.srcAddr = src_mac;
    }

    table port_macs {
        key = { standard_metadata.egress_port: exact @name("port"); }
        actions = { set_src_mac; NoAction; }
        default_action = NoAction();
        size = 512;
    }

    apply {
        port_macs.apply();
    }
}

control LbComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid() && !hdr.ipv4_options.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.totalLen,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.fragOffset, hdr.ipv4.ttl,
              hdr.ipv4.protocol, hdr.ipv4.srcAddr, hdr.ipv4.dstAddr },
            hdr.ipv4.hdrChecksum, HashAlgorithm.csum16);
        update_checksum(hdr.ipv4.isValid() && hdr.ipv4_options.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.totalLen,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.fragOffset, hdr.ipv4.ttl,
              hdr.ipv4.protocol, hdr.ipv4.srcAddr, hdr.ipv4.dstAddr, hdr.ipv4_options.options },
            hdr.ipv4.hdrChecksum, HashAlgorithm.csum16);
        /* Only rewritten segments: recomputing over the payload costs a pass over the packet. */
        update_checksum_with_payload(hdr.tcp.isValid() && meta.rewritten == 1,
            { hdr.ipv4.srcAddr, hdr.ipv4.dstAddr, 8w0, hdr.ipv4.protocol, meta.tcp_length,
              hdr.tcp.srcPort, hdr.tcp.dstPort, hdr.tcp.seqNo, hdr.tcp.ackNo,
              hdr.tcp.dataOffset, hdr.tcp.res, hdr.tcp.flags, hdr.tcp.window,
              hdr.tcp.urgentPtr },
            hdr.tcp.checksum, HashAlgorithm.csum16);
        /* A translated ICMP error: the quoted header's checksum, then the ICMP checksum over
         * everything after the ICMP checksum field (quoted headers and the rest of the quote). */
        update_checksum(hdr.quoted_tcp.isValid() && meta.rewritten == 1,
            { hdr.quoted_ipv4.version, hdr.quoted_ipv4.ihl, hdr.quoted_ipv4.diffserv,
              hdr.quoted_ipv4.totalLen, hdr.quoted_ipv4.identification, hdr.quoted_ipv4.flags,
              hdr.quoted_ipv4.fragOffset, hdr.quoted_ipv4.ttl, hdr.quoted_ipv4.protocol,
              hdr.quoted_ipv4.srcAddr, hdr.quoted_ipv4.dstAddr },
            hdr.quoted_ipv4.hdrChecksum, HashAlgorithm.csum16);
        update_checksum_with_payload(hdr.quoted_tcp.isValid() && meta.rewritten == 1,
            { hdr.icmp.type, hdr.icmp.code, hdr.icmp.rest,
              hdr.quoted_ipv4.version, hdr.quoted_ipv4.ihl, hdr.quoted_ipv4.diffserv,
              hdr.quoted_ipv4.totalLen, hdr.quoted_ipv4.identification, hdr.quoted_ipv4.flags,
              hdr.quoted_ipv4.fragOffset, hdr.quoted_ipv4.ttl, hdr.quoted_ipv4.protocol,
              hdr.quoted_ipv4.hdrChecksum, hdr.quoted_ipv4.srcAddr, hdr.quoted_ipv4.dstAddr,
              hdr.quoted_tcp.srcPort, hdr.quoted_tcp.dstPort, hdr.quoted_tcp.seqNo },
            hdr.icmp.checksum, HashAlgorithm.csum16);
    }
}

control LbDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ipv4_options);
        packet.emit(hdr.tcp);
        packet.emit(hdr.icmp);
        packet.emit(hdr.quoted_ipv4);
        packet.emit(hdr.quoted_tcp);
    }
}

V1Switch(LbParser(), LbVerifyChecksum(), LbIngress(), LbEgress(), LbComputeChecksum(),
         LbDeparser()) main;
