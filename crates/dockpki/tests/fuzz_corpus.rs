//! The fuzz harnesses (`fuzz/harness.rs`) on stable Rust, on every `cargo test`:
//!
//! - every file of `fuzz/corpus/TARGET/` (seeds) and `fuzz/regressions/TARGET/` (inputs that
//!   once crashed, hung or were wrongly accepted) is replayed through its harness;
//! - proptest feeds each harness random bytes and mutations of its seeds (bit flips, cuts,
//!   splices, repeated and deleted ranges). `FUZZ_CASES=N` raises the number of cases per
//!   harness (default 256) for a longer stable fuzzing run.
//!
//! Real coverage-guided fuzzing runs the same harnesses under libFuzzer (`just fuzz TARGET`).

#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 7] = [
    ("pem_private_key", harness::pem_private_key),
    ("encrypted_private_key", harness::encrypted_private_key),
    ("certificates", harness::certificates),
    ("ca_load", harness::ca_load),
    ("lifetime", harness::lifetime),
    ("sans", harness::sans),
    ("csr", harness::csr),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.expect("dir entry").path())
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_corpus_and_regression_input_passes_its_harness() {
    let mut replayed = 0;
    for (name, harness) in TARGETS {
        let seeds = files(&fuzz_dir().join("corpus").join(name));
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for (path, bytes) in seeds
            .iter()
            .chain(&files(&fuzz_dir().join("regressions").join(name)))
        {
            let result = std::panic::catch_unwind(|| harness(bytes));
            assert!(result.is_ok(), "{name} failed on {}", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 16);
}

#[test]
fn corpus_seeds_are_accepted_so_mutations_start_from_valid_input() {
    for (path, bytes) in files(&fuzz_dir().join("corpus/pem_private_key")) {
        assert!(
            dockpki::PrivateKey::from_pem(&bytes).is_ok(),
            "{}",
            path.display()
        );
    }
    for (path, bytes) in files(&fuzz_dir().join("corpus/encrypted_private_key")) {
        let key = dockpki::PrivateKey::from_encrypted_pem(&bytes, harness::PASSPHRASE);
        assert!(key.is_ok(), "{}", path.display());
    }
    for (path, bytes) in files(&fuzz_dir().join("corpus/ca_load")) {
        let (cert, key) = match bytes.iter().position(|&b| b == 0) {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (&bytes[..], &bytes[..]),
        };
        assert!(
            dockpki::CertificateAuthority::load(cert, key).is_ok(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn csr_seeds_are_accepted_so_mutations_start_from_valid_requests() {
    let seeds = files(&fuzz_dir().join("corpus/csr"));
    assert!(seeds.len() >= 4);
    for (path, bytes) in seeds {
        assert!(
            dockpki::VerifiedCsr::from_pem(&bytes).is_ok(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn encrypted_keys_with_costly_or_legacy_key_derivation_are_refused_not_run() {
    let dir = fuzz_dir().join("regressions/encrypted_private_key");
    for (file, phrase) in [
        (
            "pbkdf2-10000001-iterations.pem",
            "10000001 PBKDF2 iterations",
        ),
        ("scrypt.pem", "scrypt"),
        ("pbes1-sha1-3des.pem", "other than PBES2"),
    ] {
        let bytes = fs::read(dir.join(file)).unwrap();
        let started = std::time::Instant::now();
        let err = dockpki::PrivateKey::from_encrypted_pem(&bytes, b"x").unwrap_err();
        assert!(err.to_string().contains(phrase), "{file}: {err}");
        // Refused before any key derivation ran.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{file}"
        );
    }
}

/// A mutation of `seed`: flip bits, cut, duplicate or delete a range, or splice in junk.
fn mutate(seed: &[u8], ops: &[(u8, usize, usize, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(op, a, b, byte) in ops {
        if v.is_empty() {
            v.push(byte);
            continue;
        }
        let i = a % v.len();
        let j = (i + b % 64).min(v.len());
        match op % 5 {
            0 => v[i] ^= 1 << (byte % 8),
            1 => v.truncate(i),
            2 => {
                let range = v[i..j].to_vec();
                v.splice(j..j, range);
            }
            3 => {
                v.drain(i..j);
            }
            _ => v.insert(i, byte),
        }
    }
    v
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[test]
fn harnesses_survive_random_bytes_and_mutated_seeds() {
    let mut total = 0u64;
    for (name, harness) in TARGETS {
        let seeds: Vec<Vec<u8>> = files(&fuzz_dir().join("corpus").join(name))
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            0..seeds.len(),
            prop::collection::vec(
                (any::<u8>(), any::<usize>(), any::<usize>(), any::<u8>()),
                0..8,
            ),
            prop::collection::vec(any::<u8>(), 0..512),
            any::<bool>(),
        );
        runner
            .run(&strategy, |(seed, ops, random, use_random)| {
                let input = if use_random {
                    random
                } else {
                    mutate(&seeds[seed], &ops)
                };
                harness(&input);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        total += u64::from(cases());
    }
    eprintln!("fuzz-style cases run: {total}");
}
