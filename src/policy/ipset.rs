//! Sets of IP addresses, compiled from CIDR lists into sorted, merged ranges
//! so that a lookup is one binary search however many ranges ops list.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> IpSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        IpSet {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    /// Every IPv4 and IPv6 address.
    pub fn everything() -> IpSet {
        IpSet {
            v4: vec![(0, u32::MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(ip) => lookup(&self.v4, u32::from(ip)),
            IpAddr::V6(ip) => lookup(&self.v6, u128::from(ip)),
        }
    }

    pub fn union(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: merge(self.v4.iter().chain(&other.v4).copied().collect()),
            v6: merge(self.v6.iter().chain(&other.v6).copied().collect()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Sort ranges and merge the ones that overlap or touch.
fn merge<T: Copy + Ord + num::Successor>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1.successor_saturating() => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged.shrink_to_fit();
    merged
}

fn lookup<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    // The last range starting at or before x is the only one that can hold it.
    let after = ranges.partition_point(|(start, _)| *start <= x);
    after > 0 && ranges[after - 1].1 >= x
}

mod num {
    pub trait Successor {
        fn successor_saturating(self) -> Self;
    }
    impl Successor for u32 {
        fn successor_saturating(self) -> u32 {
            self.saturating_add(1)
        }
    }
    impl Successor for u128 {
        fn successor_saturating(self) -> u128 {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(nets: &[&str]) -> IpSet {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        IpSet::from_nets(&nets)
    }

    #[test]
    fn hosts_ranges_and_both_families() {
        let s = set(&["193.167.1.70/32", "10.0.0.0/8", "2001:db8:1::/48"]);
        assert!(s.contains("193.167.1.70".parse().unwrap()));
        assert!(!s.contains("193.167.1.71".parse().unwrap()));
        assert!(s.contains("10.255.255.255".parse().unwrap()));
        assert!(s.contains("2001:db8:1:ffff::1".parse().unwrap()));
        assert!(!s.contains("2001:db8:2::1".parse().unwrap()));
        assert!(
            s.contains("::ffff:10.1.2.3".parse().unwrap()),
            "IPv4-mapped addresses match IPv4 ranges"
        );
    }

    #[test]
    fn adjacent_and_overlapping_ranges_merge() {
        let s = set(&["10.0.0.0/25", "10.0.0.128/25", "10.0.0.7/32", "0.0.0.0/0"]);
        assert_eq!(s.v4, vec![(0, u32::MAX)]);
    }

    fn naive(nets: &[IpNet], ip: IpAddr) -> bool {
        nets.iter().any(|n| n.contains(&ip.to_canonical()))
    }

    fn arb_v4_net() -> impl Strategy<Value = IpNet> {
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, len)| IpNet::new(std::net::Ipv4Addr::from(a).into(), len).unwrap().trunc())
    }

    fn arb_v6_net() -> impl Strategy<Value = IpNet> {
        // Few distinct high bits, so that random addresses do land inside.
        (0u128..4, any::<u64>(), 0u8..=128).prop_map(|(hi, lo, len)| {
            let addr = (hi << 126) | u128::from(lo);
            IpNet::new(std::net::Ipv6Addr::from(addr).into(), len).unwrap().trunc()
        })
    }

    proptest! {
        #[test]
        fn compiled_matcher_agrees_with_the_naive_one_v4(
            nets in proptest::collection::vec(arb_v4_net(), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..60),
        ) {
            let s = IpSet::from_nets(&nets);
            for probe in probes {
                let ip = IpAddr::V4(probe.into());
                prop_assert_eq!(s.contains(ip), naive(&nets, ip), "{}", ip);
            }
            // Probe the edges of every range too.
            for net in &nets {
                for ip in [net.network(), net.broadcast()] {
                    prop_assert!(s.contains(ip));
                }
            }
        }

        #[test]
        fn compiled_matcher_agrees_with_the_naive_one_v6(
            nets in proptest::collection::vec(arb_v6_net(), 0..40),
            probes in proptest::collection::vec((0u128..4, any::<u64>()), 1..60),
        ) {
            let s = IpSet::from_nets(&nets);
            for (hi, lo) in probes {
                let ip = IpAddr::V6(((hi << 126) | u128::from(lo)).into());
                prop_assert_eq!(s.contains(ip), naive(&nets, ip), "{}", ip);
            }
        }

        #[test]
        fn union_is_the_set_union(
            a in proptest::collection::vec(arb_v4_net(), 0..10),
            b in proptest::collection::vec(arb_v4_net(), 0..10),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let u = IpSet::from_nets(&a).union(&IpSet::from_nets(&b));
            let all: Vec<IpNet> = a.iter().chain(&b).copied().collect();
            for probe in probes {
                let ip = IpAddr::V4(probe.into());
                prop_assert_eq!(u.contains(ip), naive(&all, ip));
            }
        }
    }
}
