# Developer tasks. `just --list` shows them.

# Format all code.
fmt:
    cargo fmt --all

# Lint everything, warnings are errors.
clippy:
    cargo clippy --workspace --all-targets --features dockpki-cli/fault-injection -- -D warnings

# Alias of clippy, under the name the issue uses.
lint: clippy

# The libraries' documentation, warnings are errors (as CI builds it).
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# Every test: unit, property, CLI and end-to-end (the e2e tests need root and dockerd).
test:
    cargo test --workspace --features dockpki-cli/fault-injection

# Run the library's examples; each exits non-zero when what it shows does not hold
# (mtls_loopback: a mutual-TLS exchange over 127.0.0.1, and a client without a certificate refused).
examples:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo run -q -p dockpki --example provision >/dev/null
    cargo run -q -p dockpki --example mtls_loopback
    d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
    cargo run -q -p dockpki-provision --example embed_bootstrap -- "$d/root"
    cargo run -q -p dockpki-cli -- --state "$d/state" bootstrap --san localhost --daemon-dir "$d/daemon" --client-dir "$d/client" >/dev/null
    cargo run -q -p dockpki-provision --example rotate_ca -- "$d/state"
    cargo run -q -p dockpki-cli -- --state "$d/state" status >/dev/null
    cargo run -q -p dockpki-cli -- --state "$d/state" verify --daemon-dir "$d/daemon" --client-dir "$d/client" --host localhost >/dev/null

# Only the end-to-end tests against a real dockerd and docker CLI.
e2e:
    cargo test -p dockpki-cli --test e2e_dockerd -- --nocapture
    cargo test -p dockpki-cli --test e2e_converge -- --nocapture

# Wall-clock benchmarks: whole `dockpki bootstrap` runs and the library operations, then
# `issue`, `status` and `renew --all` on states of 10, 1,000 and 10,000 certificates
# (docs/performance.md; DOCKPKI_BENCH_SIZES=10,1000 for a shorter run); last, how fast the CA
# signs hosts' requests, through the library and as `dockpki sign` (docs/fleet.md).
bench:
    cargo bench -p dockpki-cli --bench bootstrap
    cargo bench -p dockpki-cli --bench scale
    cargo bench -p dockpki-cli --bench sign

# What CI runs (installs docker.io when missing).
ci:
    bash .ci/run

# Coverage-guided fuzzing of one parser with libFuzzer (needs nightly and `cargo install
# cargo-fuzz`): just fuzz certificates 600. Targets: pem_private_key encrypted_private_key
# certificates ca_load lifetime sans csr. Crashes land in fuzz/artifacts/TARGET/; copy each into
# fuzz/regressions/TARGET/ so `cargo test` replays it forever.
fuzz target="certificates" seconds="300":
    cd fuzz && cargo +nightly fuzz run {{target}} corpus/{{target}} -- -max_total_time={{seconds}} -timeout=10

# The same harnesses on stable: corpus and regressions replayed, then N proptest mutations per
# parser (FUZZ_CASES, default 256 in plain `cargo test`).
fuzz-stable cases="100000":
    FUZZ_CASES={{cases}} cargo test --release -p dockpki --test fuzz_corpus -- --nocapture
