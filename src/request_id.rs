//! Request ids, as the access log, the audit trail and every error page
//! show them ("Reference: 3f9a0c51e2d4-1043"), so that a user's screenshot
//! leads to one request. Unique across workers (each counts in its own
//! stride), gateways and restarts (each process starts from a random
//! 48-bit prefix).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    process: u64,
    n: u64,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: every request's access-log line writes one.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut prefix = [0u8; 12];
        for (i, digit) in prefix.iter_mut().enumerate() {
            *digit = HEX[((self.process >> (44 - 4 * i)) & 0xf) as usize];
        }
        f.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
        f.write_str("-")?;
        fmt::Display::fmt(&self.n, f)
    }
}

/// One worker's source of ids.
#[derive(Debug)]
pub struct RequestIds {
    process: u64,
    next: AtomicU64,
    stride: u64,
}

impl RequestIds {
    /// A source for each of `workers` workers of this process: the same
    /// random prefix, interleaved counters (worker 0 counts 0, 2, 4…).
    pub fn for_workers(workers: usize) -> Vec<RequestIds> {
        let process = random_prefix();
        let stride = workers.max(1) as u64;
        (0..stride)
            .map(|start| RequestIds {
                process,
                next: AtomicU64::new(start),
                stride,
            })
            .collect()
    }

    pub fn next(&self) -> RequestId {
        RequestId {
            process: self.process,
            n: self.next.fetch_add(self.stride, Ordering::Relaxed),
        }
    }
}

fn random_prefix() -> u64 {
    let random = ring::rand::generate::<[u8; 8]>(&ring::rand::SystemRandom::new()).map(|r| r.expose());
    // Without the system's randomness, the start time in nanoseconds
    // still tells restarts apart.
    let bytes = random.unwrap_or_else(|_| {
        let since = crate::clock::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (since.as_nanos() as u64).to_le_bytes()
    });
    u64::from_le_bytes(bytes) & 0xffff_ffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_workers_or_processes() {
        let one = RequestIds::for_workers(2);
        let other = RequestIds::for_workers(2);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            for ids in one.iter().chain(&other) {
                assert!(seen.insert(ids.next()), "a repeated id");
            }
        }
        assert_ne!(one[0].process, other[0].process, "each process has its own prefix");
    }

    #[test]
    fn ids_read_as_prefix_and_number() {
        let id = RequestId { process: 0xabc, n: 42 };
        assert_eq!(id.to_string(), "000000000abc-42");
    }
}
