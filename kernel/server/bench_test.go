package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/netssm/netssm/kernel/kerneltest"
	"github.com/netssm/netssm/kernel/server"
)

// benchRoundTrip times execute_request -> execute_reply + idle over a
// loopback websocket.
func benchRoundTrip(b *testing.B, s *kerneltest.Server, v1 bool, code string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := s.Dial(ctx, s.StartKernel(b), v1)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for range 20 {
		if _, err := c.Execute(ctx, code); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := c.Execute(ctx, code)
		if err != nil || r.Content()["status"] != "ok" {
			b.Fatalf("%v %v", err, r)
		}
	}
}

// The fake engine isolates the server's own cost (framing, dispatch).
func BenchmarkRoundTripFakeV1(b *testing.B) {
	benchRoundTrip(b, fakeServer(b, server.Options{Logf: func(string, ...any) {}}), true, "= 2")
}

func BenchmarkRoundTripFakeLegacy(b *testing.B) {
	benchRoundTrip(b, fakeServer(b, server.Options{Logf: func(string, ...any) {}}), false, "= 2")
}

// The real engine: a yaegi child process per kernel.
func BenchmarkRoundTripProcV1(b *testing.B) {
	benchRoundTrip(b, procServer(b), true, "1+1")
}

// BenchmarkKernelStart times POST /api/kernels until kernel_info_reply.
func BenchmarkKernelStart(b *testing.B) {
	s := procServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for b.Loop() {
		id := s.StartKernel(b)
		c, err := s.Dial(ctx, id, true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Request(ctx, "shell", "kernel_info_request", nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
		s.Do("DELETE", "/api/kernels/"+id, nil, nil)
	}
}
