//! Where a tenant lives in a cluster: the worker that computes its stock, alerts and settlements,
//! and the process that serves it — one rule, so that a tenant's results are made where they are
//! served.

use differential_dataflow::Hashable;

/// The hash a tenant's updates are exchanged by: differential dataflow's (a fixed-seed foldhash),
/// the same in every process of a build.
pub fn tenant_hash(tenant_id: &str) -> u64 {
    tenant_id.hashed()
}

/// The process of a cluster of `processes` × `workers` (per process) that serves `tenant_id`: the
/// process of the worker its results are computed on (operators exchange a tenant's updates to
/// worker [`tenant_hash`] modulo the cluster's workers, and timely numbers a process's workers
/// consecutively).
pub fn tenant_owner(tenant_id: &str, processes: usize, workers: usize) -> usize {
    let cluster_workers = (processes * workers).max(1) as u64;
    (tenant_hash(tenant_id) % cluster_workers) as usize / workers.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Id;

    #[test]
    fn the_owner_is_the_process_of_the_worker_a_tenant_id_hashes_to_as_an_id_or_a_str() {
        for tenant in (0..500).map(|n| format!("tenant-{n}")) {
            assert_eq!(tenant_hash(&tenant), Id::from(tenant.as_str()).hashed(), "{tenant}");
            let worker = (tenant_hash(&tenant) % 6) as usize;
            assert_eq!(tenant_owner(&tenant, 3, 2), worker / 2, "{tenant}");
        }
        // Pinned: a different hash moves tenants between workers and processes across an upgrade
        // (harmless — every process recovers what it serves from Postgres — but worth knowing).
        assert_eq!(tenant_hash("acme-wholesale") % 1_000_003, 284_405);
    }
}
