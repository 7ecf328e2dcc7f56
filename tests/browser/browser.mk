# Headless Chromium for the browser tests (tests/browser), included by the root Makefile.
# Debian's packages, installed only when missing: CI starts from a fresh machine as root.

CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: browser

## browser: install Debian's chromium and chromium-driver when either is missing
browser:
	@(test -x $(CHROMIUM) && test -x $(CHROMEDRIVER)) || \
		(apt-get update && apt-get install -y chromium chromium-driver)

SCREENSHOT_STATE ?= .kubetune-screenshot

.PHONY: screenshot

## screenshot: docs/report.png, the report of a fresh local run of examples/branin.yaml
screenshot: $(INSTALLED) browser
	rm -rf $(SCREENSHOT_STATE)
	$(BIN)/kubetune run examples/branin.yaml --state-dir $(SCREENSHOT_STATE)
	$(BIN)/kubetune report branin --state-dir $(SCREENSHOT_STATE) -o $(SCREENSHOT_STATE)/branin.html
	$(BIN)/python -m tests.browser.screenshot $(SCREENSHOT_STATE)/branin.html docs/report.png
	rm -rf $(SCREENSHOT_STATE)
