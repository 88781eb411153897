//! Names for the generated marketplace.

use flowmart_schemas::Id;

const TENANTS: [&str; 8] = [
    "acme-wholesale",
    "globex-distribution",
    "initech-supply",
    "umbrella-retail",
    "stark-industrial",
    "wayne-foods",
    "tyrell-electronics",
    "cyberdyne-parts",
];

const WAREHOUSES: [&str; 6] = ["rotterdam", "berlin", "lyon", "milan", "warsaw", "madrid"];

const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

/// The name of tenant `index`.
pub(super) fn tenant(index: u32) -> Id {
    match TENANTS.get(index as usize) {
        Some(name) => Id::from(*name),
        None => Id::from(format!("tenant-{index:03}")),
    }
}

/// The name of warehouse `index` of a tenant.
pub(super) fn warehouse(index: u32) -> Id {
    match WAREHOUSES.get(index as usize) {
        Some(name) => Id::from(*name),
        None => Id::from(format!("warehouse-{index:02}")),
    }
}

/// The name of sku `index` of a tenant.
pub(super) fn sku(index: u32) -> Id {
    Id::from(format!("SKU-{index:05}"))
}

/// The currency tenant `index` trades in.
pub(super) fn currency(index: u32) -> Id {
    Id::from(CURRENCIES[index as usize % CURRENCIES.len()])
}
