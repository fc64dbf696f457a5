// Package browsertest drives real headless chromium (through chromedp)
// against a real in-process gateway to test the dashboard and the HTML
// report: console errors, charts drawn from data, drift markers, opening a
// request, phone-size layout, and the report's figures matching the page.
//
// It is its own package so the fast tests of package web stay fast. Without
// chromium the test skips, naming `apt-get install chromium`; with CI=true it
// fails instead. Set SCREENSHOT_DIR to keep the screenshots.
package browsertest
