//! What the memory benchmarks share: the process's resident set size, and tenants of uneven size.

/// Tenants' shares of the keys, in percent: a marketplace's uneven wholesalers.
pub const TENANT_SHARES: [u64; 6] = [40, 25, 15, 10, 6, 4];

/// The resident set size of this process, in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB");
    kib * 1024
}

/// The tenant (an index into [`TENANT_SHARES`]) of the `index`th key: a fixed stride through the
/// shares, so every run is the same.
pub fn skewed_tenant(index: u64) -> usize {
    let mut point = index.wrapping_mul(7919) % 100;
    TENANT_SHARES
        .iter()
        .position(|share| {
            let here = point < *share;
            point = point.saturating_sub(*share);
            here
        })
        .expect("the shares add up to 100")
}
