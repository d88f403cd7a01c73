//! A concurrent run of the service: readers, write-through writers,
//! write-behind writers and two drainers at once. Afterwards the database
//! and the cache agree on every product and every stock item.

use pattern_example_orders::{Orders, Product, STOCK_LOG};
use pattern_tests::Server;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

const PRODUCTS: i64 = 12;
const SKUS: u64 = 8;
const WORKERS: usize = 8;
const OPS: u64 = 300;

/// A small fixed-seed generator: the run is random but repeatable.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn database_and_cache_agree_after_a_concurrent_run() {
    let server = Server::start();
    server.load("cache");
    let dir = std::env::temp_dir().join(format!("orders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("orders.db");
    let _ = std::fs::remove_file(&db);
    let url = server.url();
    let setup = Orders::open(&url, &db).unwrap();
    for id in 0..PRODUCTS {
        setup.add_product(id, 100).unwrap();
    }

    let done = Arc::new(AtomicBool::new(false));
    let drainers: Vec<_> = ["d1", "d2"]
        .into_iter()
        .map(|name| {
            let (url, db, done) = (url.clone(), db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut orders = Orders::open(&url, &db).unwrap();
                let mut applied = 0;
                while !done.load(Ordering::SeqCst) {
                    // min-idle 50 ms: the drainers also take over each other's writes.
                    match orders.drain(name, 16, 50).unwrap() {
                        0 => std::thread::sleep(std::time::Duration::from_millis(2)),
                        n => applied += n,
                    }
                }
                applied
            })
        })
        .collect();

    let barrier = Arc::new(Barrier::new(WORKERS));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (url, db, barrier) = (url.clone(), db.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut orders = Orders::open(&url, &db).unwrap();
                let mut rng = Lcg(w as u64 + 1);
                let mut stock_writes = 0;
                barrier.wait();
                for _ in 0..OPS {
                    let id = rng.below(PRODUCTS as u64) as i64;
                    match rng.below(10) {
                        0..=3 => {
                            let seen = orders.product(id).unwrap().unwrap();
                            assert!(seen.version >= 1);
                        }
                        4..=5 => {
                            orders.product_aside(id).unwrap().unwrap();
                        }
                        6..=7 => {
                            orders
                                .set_price(id, rng.below(1000) as i64)
                                .unwrap()
                                .unwrap();
                        }
                        _ => {
                            let sku = format!("sku{}", rng.below(SKUS));
                            orders.set_stock(&sku, rng.below(500) as i64).unwrap();
                            stock_writes += 1;
                        }
                    }
                }
                stock_writes
            })
        })
        .collect();
    let stock_writes: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    done.store(true, Ordering::SeqCst);
    let drained: usize = drainers.into_iter().map(|d| d.join().unwrap()).sum();

    // Whatever the drainers had not finished: one last drain.
    let mut check = Orders::open(&url, &db).unwrap();
    let mut rest = 0;
    loop {
        match check.drain("final", 100, 0).unwrap() {
            0 => break,
            n => rest += n,
        }
    }
    assert!(
        drained + rest >= stock_writes,
        "every write applied at least once: {drained} + {rest} < {stock_writes}"
    );
    let left: i64 = redis::cmd("XLEN")
        .arg(STOCK_LOG)
        .query(&mut check.redis)
        .unwrap();
    assert_eq!(left, 0, "the write log is empty");

    let mut cached_products = 0;
    for id in 0..PRODUCTS {
        let row: Product = check.product_row(id).unwrap().unwrap();
        if let Some(cached) = check.cached_product(id).unwrap() {
            assert_eq!(cached, row, "product {id}: cache and database disagree");
            cached_products += 1;
        }
    }
    assert!(
        cached_products > PRODUCTS / 2,
        "most products are cached: {cached_products}"
    );
    let mut stocked = 0;
    for sku in (0..SKUS).map(|s| format!("sku{s}")) {
        let cached = check.cached_stock(&sku).unwrap();
        assert_eq!(
            check.stock_row(&sku).unwrap(),
            cached,
            "{sku}: cache and database disagree"
        );
        stocked += cached.is_some() as usize;
    }
    assert!(stocked > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
