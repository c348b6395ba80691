# Developer tasks. `just --list` shows them.

# Format all code.
fmt:
    cargo fmt --all

# Lint everything, warnings are errors.
clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# Alias of clippy, under the name the issue uses.
lint: clippy

# Every test: unit, property, CLI and end-to-end (the e2e tests need root and dockerd).
test:
    cargo test --workspace

# Only the end-to-end tests against a real dockerd and docker CLI.
e2e:
    cargo test -p dockpki-cli --test e2e_dockerd -- --nocapture

# Wall-clock benchmark of whole `dockpki bootstrap` runs and of the library operations.
bench:
    cargo bench -p dockpki-cli --bench bootstrap

# What CI runs (installs docker.io when missing).
ci:
    bash .ci/run
