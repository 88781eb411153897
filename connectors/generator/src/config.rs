/// How the generator behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of every random choice: the same seed gives the same records. Default 42.
    pub seed: u64,
    /// Number of tenants. Default 6.
    pub tenants: u32,
    /// Number of partitions per topic; tenant `i` lives on partition `i mod partitions`. Default 8.
    pub partitions: u32,
    /// Warehouses per tenant. Default 3.
    pub warehouses_per_tenant: u32,
    /// SKUs per tenant. Default 200.
    pub skus_per_tenant: u32,
    /// Records per second over all partitions; `None` generates as fast as the pipeline takes
    /// them. Default 5,000.
    pub records_per_second: Option<u64>,
    /// Records in all (spread evenly over the partitions that carry tenants); `None` never stops.
    /// Default `None`.
    pub max_records: Option<u64>,
    /// `occurred_at` of the first record (ms since the epoch); later records follow the rate.
    /// Default 2026-01-05T00:00:00Z.
    pub start_ms: i64,
    /// Share of records that are producer retries, late order versions or rule breakers, each.
    /// Default 0.005.
    pub fault_ratio: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            tenants: 6,
            partitions: 8,
            warehouses_per_tenant: 3,
            skus_per_tenant: 200,
            records_per_second: Some(5_000),
            max_records: None,
            start_ms: 1_767_571_200_000,
            fault_ratio: 0.005,
        }
    }
}

impl GeneratorConfig {
    /// How many records partition `partition` produces, if bounded. Tenant `i` lives on
    /// partition `i mod partitions`, so the first `min(tenants, partitions)` partitions carry
    /// tenants and share the records; the others produce none.
    pub fn records_of_partition(&self, partition: u32) -> Option<u64> {
        let active = u64::from(self.tenants.min(self.partitions).max(1));
        let partition = u64::from(partition);
        self.max_records
            .map(|total| if partition < active { total / active + u64::from(partition < total % active) } else { 0 })
    }
}
