//! Which concurrent map should hold the verified-token cache: a hit and a miss on each
//! candidate, filled with 10,000 token-sized keys (1,200 bytes, shared `Arc<str>`), looked up by
//! `&str` with the cache's own `TailHash`, the value an `Arc` and a generation as in the cache.
//! Run with `cargo bench -p entra-auth --bench cache_maps`; the figures are in BENCHMARKS.md.
//!
//! Candidates: moka (`sync::Cache`, the cache until this comparison), quick_cache (`sync::Cache`,
//! S3-FIFO), papaya (`HashMap`, lock-free reads, no eviction of its own), scc (`HashCache`), and
//! a map of our own (16 shards of `RwLock<HashMap>`, no eviction policy).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, RwLock};

use criterion::{Criterion, criterion_group, criterion_main};
use entra_auth::internal::verified_cache::TailHash;
use std::hash::BuildHasher;

type Value = (Arc<String>, u64);

const ENTRIES: usize = 10_000;

fn token(i: usize) -> Arc<str> {
    // Token-shaped: a long shared prefix, a distinct 342-character signature-like tail.
    let mut text = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.".repeat(23);
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..342 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        text.push(alphabet[(x % 64) as usize] as char);
    }
    Arc::from(text)
}

struct Sharded {
    shards: Vec<RwLock<HashMap<Arc<str>, Value, TailHash>>>,
    hasher: TailHash,
}

impl Sharded {
    fn new() -> Self {
        Self {
            shards: (0..16)
                .map(|_| RwLock::new(HashMap::with_hasher(TailHash::default())))
                .collect(),
            hasher: TailHash::default(),
        }
    }
    fn shard(&self, key: &str) -> &RwLock<HashMap<Arc<str>, Value, TailHash>> {
        &self.shards[(self.hasher.hash_one(key) >> 60) as usize]
    }
    fn insert(&self, key: Arc<str>, value: Value) {
        if let Ok(mut map) = self.shard(&key).write() {
            map.insert(key, value);
        }
    }
    fn get(&self, key: &str) -> Option<Value> {
        self.shard(key).read().ok()?.get(key).cloned()
    }
}

fn benches(c: &mut Criterion) {
    let keys: Vec<Arc<str>> = (0..ENTRIES).map(token).collect();
    let value: Value = (Arc::new("claims".to_owned()), 7);
    let hit = keys[ENTRIES / 2].to_string();
    let miss = token(ENTRIES + 1).to_string();

    let moka: moka::sync::Cache<Arc<str>, Value, TailHash> = moka::sync::Cache::builder()
        .max_capacity(ENTRIES as u64)
        .build_with_hasher(TailHash::default());
    let quick: quick_cache::sync::Cache<Arc<str>, Value, quick_cache::UnitWeighter, TailHash> =
        quick_cache::sync::Cache::with(
            ENTRIES,
            ENTRIES as u64,
            quick_cache::UnitWeighter,
            TailHash::default(),
            Default::default(),
        );
    let papaya: papaya::HashMap<Arc<str>, Value, TailHash> =
        papaya::HashMap::with_capacity_and_hasher(ENTRIES, TailHash::default());
    let scc: scc::HashCache<Arc<str>, Value, TailHash> =
        scc::HashCache::with_capacity_and_hasher(ENTRIES, 2 * ENTRIES, TailHash::default());
    let sharded = Sharded::new();
    for key in &keys {
        moka.insert(key.clone(), value.clone());
        quick.insert(key.clone(), value.clone());
        papaya.pin().insert(key.clone(), value.clone());
        let _ = scc.put_sync(key.clone(), value.clone());
        sharded.insert(key.clone(), value.clone());
    }
    moka.run_pending_tasks();

    let mut group = c.benchmark_group("cache_maps");
    for (name, key) in [("hit", hit.as_str()), ("miss", miss.as_str())] {
        group.bench_function(format!("moka_{name}"), |b| {
            b.iter(|| black_box(moka.get(black_box(key))))
        });
        group.bench_function(format!("quick_cache_{name}"), |b| {
            b.iter(|| black_box(quick.get(black_box(key))))
        });
        group.bench_function(format!("papaya_{name}"), |b| {
            b.iter(|| black_box(papaya.pin().get(black_box(key)).cloned()))
        });
        group.bench_function(format!("scc_{name}"), |b| {
            b.iter(|| black_box(scc.read_sync(black_box(key), |_, v| v.clone())))
        });
        group.bench_function(format!("sharded_rwlock_{name}"), |b| {
            b.iter(|| black_box(sharded.get(black_box(key))))
        });
    }
    group.finish();
}

criterion_group!(cache_maps, benches);
criterion_main!(cache_maps);
