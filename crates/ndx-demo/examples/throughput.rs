//! Measures how fast the synthetic population streams to CSV, and prints a few sample records.
//!
//! `cargo run --release -p ndx-demo --example throughput -- [citizens] [seed]`

use std::time::Instant;

use ndx_demo::{BUSINESS_FIELDS, CIVIL_SERVANT_FIELDS, Country, POPULATION_FIELDS, write_csv};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let citizens: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let country = Country::new(seed, citizens);

    let start = Instant::now();
    let persons = country.population().count();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "population: {persons} persons in {secs:.3} s = {:.0} persons/s (records only)",
        persons as f64 / secs
    );

    let start = Instant::now();
    let rows = write_csv(country.population(), POPULATION_FIELDS, std::io::sink())?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "population CSV: {rows} rows in {secs:.3} s = {:.0} rows/s",
        rows as f64 / secs
    );

    let start = Instant::now();
    let staff = country.civil_servants();
    println!(
        "civil servants: {} in {:.3} s",
        staff.len(),
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let businesses = country.businesses();
    println!(
        "businesses: {} in {:.3} s",
        businesses.len(),
        start.elapsed().as_secs_f64()
    );

    let out = std::io::stdout();
    println!("\nsample persons:");
    write_csv(country.population().take(8), POPULATION_FIELDS, out.lock())?;
    println!("\nsample civil servants:");
    write_csv(
        staff.iter().take(8).map(|s| s.record.clone()),
        CIVIL_SERVANT_FIELDS,
        out.lock(),
    )?;
    for s in staff.iter().take(8) {
        println!("  {:?}", s.truth);
    }
    println!("\nsample businesses:");
    write_csv(businesses.into_iter().take(8), BUSINESS_FIELDS, out.lock())?;
    Ok(())
}
