//! Prints each entity of an `.rrd` recording with its timed rows, static
//! rows and timelines: two recordings of the same run can be compared
//! line by line (`cargo run -p recede-viz --example rrd_rows -- run.rrd`).
#![allow(clippy::print_stdout)] // the listing is this program's output

use std::collections::{BTreeMap, BTreeSet};

use rerun::{ChunkStore, ChunkStoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: rrd_rows FILE.rrd")?;
    let mut file = std::fs::File::open(&path)?;
    let stores = ChunkStore::from_rrd_reader(&ChunkStoreConfig::DEFAULT, &mut file)?;
    for store in stores.into_values() {
        if store.id().kind() != rerun::StoreKind::Recording {
            continue;
        }
        // entity -> (timed rows, static rows, timelines)
        let mut rows: BTreeMap<String, (usize, usize, BTreeSet<String>)> = BTreeMap::new();
        for chunk in store.iter_physical_chunks() {
            let entry = rows.entry(chunk.entity_path().to_string()).or_default();
            if chunk.is_static() {
                entry.1 += chunk.num_rows();
            } else {
                entry.0 += chunk.num_rows();
            }
            entry
                .2
                .extend(chunk.timelines().keys().map(|n| n.as_str().to_owned()));
        }
        for (entity, (timed, fixed, timelines)) in rows {
            let timelines: Vec<String> = timelines.into_iter().collect();
            println!(
                "{entity} timed={timed} static={fixed} [{}]",
                timelines.join(",")
            );
        }
    }
    Ok(())
}
