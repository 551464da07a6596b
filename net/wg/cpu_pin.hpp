// CPU placement of the device's two packet threads.
//
// One TCP flow through two devices on one host (the bench, and any
// host-local overlay traffic) is a pipeline: the sender's tun->udp thread
// encrypts and sendmmsg()s; the kernel delivers the datagrams to the
// receiver's socket in that same thread's context and wakes the receiver's
// udp->tun thread from there. The scheduler's wake-affine logic puts the
// woken thread on the waker's CPU, so the two threads doing all the work of
// the flow (encrypt, decrypt) ran on ONE CPU, taking turns: with
// `perf sched timehist` each ran ~0.9 s of 2 s, 98% of it on the same CPU,
// overlapping for 0.1 s, while the other CPU was left to everything else
// (on a quiet 2-CPU host each side used 32-41% of a core: waiting for its
// turn). With every device's tun->udp thread on one CPU and its udp->tun
// thread on another, one direction's encrypting and decrypting threads run
// in parallel (same measurement: 1.65 s and 1.51 s of 2 s, overlapping
// 1.28 s). The light threads (handshakes, timers) stay unpinned.
#pragma once

namespace overlayd::wg {

// The first of two consecutive CPU slots for a new device (process-wide
// counter, so devices of one process spread over CPU pairs).
long next_cpu_slot() noexcept;

// Pins the calling thread to the `slot`-th CPU (modulo their count) of the
// set it is allowed to run on. Returns that CPU, or -1 and changes nothing
// when slot < 0, fewer than two CPUs are allowed, or the kernel refuses.
int pin_to_cpu_slot(long slot) noexcept;

}  // namespace overlayd::wg
