package preprocess_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/pcapio"
	"github.com/netssm/netssm/netssmlib/preprocess"
)

// One capture to one JSONL record, streamed into a buffer.
func ExampleProcessFile() {
	path := filepath.Join(testenv.RepoRoot(), "testdata", "pcap", "raw_ip.pcap")
	var buf bytes.Buffer
	res, err := preprocess.ProcessFile(context.Background(), &buf, path, "web", 12)
	if err != nil {
		fmt.Println(err)
		return
	}
	var rec struct {
		Data    string
		OrigLen int
	}
	json.Unmarshal(buf.Bytes(), &rec)
	fmt.Println(res.Packets, rec.OrigLen)
	fmt.Println(rec.Data)
	// Output:
	// 88 88
	// <|web|> 69 0 0 60 254 221 64 0 64 6 61
}

// The bytes NetSSM keeps of one packet: for UDP, the link and network
// headers, the UDP header and (quirk) all but the last byte of a payload
// shorter than 12 bytes.
func ExamplePacketBytes() {
	frame := []byte{
		0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet, IPv4
		0x45, 0, 0, 33, 0, 1, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, // IPv4, UDP
		0x9c, 0x40, 0x4a, 0x92, 0, 13, 0, 0, // UDP, 5-byte payload
		'h', 'e', 'l', 'l', 'o',
	}
	b, kind := preprocess.PacketBytes(nil, pcapio.LinkTypeEthernet, frame)
	fmt.Println(kind, len(b), string(b[len(b)-4:]))
	fmt.Println(strings.Count(string(preprocess.AppendPacketText(nil, b)), " ")+1, "words")
	// Output:
	// udp 46 hell
	// 128 words
}
