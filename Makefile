# The public interface of the project. Everything goes through these targets.
#   make deps    install the Debian packages (scripts/install-deps.sh)
#   make build   build build/snowgate and build/snowsim
#   make check   deps, sanitizer build, lint, fuzz smoke, and every test through ctest
#   make demo    run the product on embedded defaults (make demo-reset forgets its data)
#   make bench   optimised build, every benchmark scenario (SCENARIO=name for one); writes
#                bench/results/latest.md and the plots
#   make fuzz    build and run the libFuzzer targets (FUZZ_SECONDS each, default 5)
#   make format  clang-format the sources in place
#   make lint    format check, banned functions, cppcheck
#   make install build, then install under PREFIX (default /usr/local), staged under DESTDIR:
#                the binaries, their man pages (from their --help), the systemd unit, and an
#                example config with every setting

SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src tests -name '*.[ch]')

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build check test demo demo-reset bench fuzz format lint clean install install-files

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSG_TESTS=OFF >/dev/null
	@ninja -C $(BUILD) snowgate snowsim

check: deps lint fuzz
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSG_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_BUILD)
	@scripts/test-summary.sh $(ASAN_BUILD) $(JOBS)

test:
	@ninja -C $(ASAN_BUILD) && scripts/test-summary.sh $(ASAN_BUILD) $(JOBS)

demo: build
	@scripts/demo.sh

demo-reset:
	@scripts/demo.sh --reset

bench: deps
	@cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSG_SANITIZE=OFF >/dev/null
	@ninja -C $(BENCH_BUILD) snowgate snowsim snowgate-bench
	@$(BENCH_BUILD)/bench/snowgate-bench --out bench/results $(if $(SCENARIO),--scenario $(SCENARIO))

fuzz: deps
	@scripts/fuzz.sh

format:
	@clang-format -i $(SOURCES)

lint:
	@scripts/lint.sh

install: build install-files

# The files only, from an existing $(BUILD) (the install test uses the sanitizer build).
install-files:
	@install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/doc/snowgate $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(BUILD)/snowgate $(BUILD)/snowsim $(DESTDIR)$(PREFIX)/bin/
	scripts/manpage.sh $(BUILD)/snowgate > $(DESTDIR)$(PREFIX)/share/man/man1/snowgate.1
	scripts/manpage.sh $(BUILD)/snowsim > $(DESTDIR)$(PREFIX)/share/man/man1/snowsim.1
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' contrib/snowgate.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/snowgate.service
	$(BUILD)/snowgate config example > $(DESTDIR)$(PREFIX)/share/doc/snowgate/snowgate.example.ini
	install -m 0644 README.md docs/operations.md docs/openapi.yaml \
		$(DESTDIR)$(PREFIX)/share/doc/snowgate/

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) build-fuzz
