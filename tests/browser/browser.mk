# Headless Chromium for the browser tests (tests/browser), included by the root Makefile.
# Debian's packages, installed only when missing: CI starts from a fresh machine as root.

CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: browser

## browser: install Debian's chromium and chromium-driver when either is missing
browser:
	@(test -x $(CHROMIUM) && test -x $(CHROMEDRIVER)) || \
		(apt-get update && apt-get install -y chromium chromium-driver)
