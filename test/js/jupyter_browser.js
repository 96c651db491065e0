'use strict';
// Drives Jupyter Notebook 6 in Debian's Chromium for
// test/jupyter_browser_test.go, through puppeteer-core (nothing is
// downloaded: CHROMIUM is the system's browser).
//
// It reads one JSON command per line on stdin and answers each with one
// JSON line on stdout (logs go to stderr):
//   {"cmd":"open","url":U}        load the notebook page, wait until loaded
//   {"cmd":"type","text":T}       click into the first cell, type T at its end
//   {"cmd":"save","timeout_ms":N} press Ctrl-S; answer {"saved":true}, or
//                                 {"dialog":{"title","body"}} for a modal
//                                 dialog, {"failed":msg}, or {"timeout":true}
//   {"cmd":"screenshot","path":P}
//   {"cmd":"close"}
// Every answer has "ok"; an error is {"ok":false,"error":msg}.
//
// Environment: CHROMIUM (default /usr/bin/chromium), USER_DATA_DIR (an
// empty directory for the browser's profile).

const puppeteer = require('puppeteer-core');
const readline = require('readline');

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: process.env.USER_DATA_DIR,
    // As root Chromium needs --no-sandbox; the rest keep it from calling
    // home or doing work the test does not need.
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    defaultViewport: {width: 1280, height: 900},
  });
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  // A native dialog (beforeunload) would block the page: record and dismiss.
  page.on('dialog', async (d) => {
    process.stderr.write(`native dialog: ${d.type()}: ${d.message()}\n`);
    await d.dismiss();
  });

  const commands = {
    async open({url}) {
      await page.goto(url, {waitUntil: 'load'});
      await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded,
          {timeout: 30000});
      return page.evaluate(() => {
        // No autosave: every version the test counts is a Ctrl-S.
        Jupyter.notebook.set_autosave_interval(0);
        window.__saved = 0;
        window.__saveFailed = [];
        Jupyter.notebook.events.on('notebook_saved.Notebook', () => { window.__saved++; });
        Jupyter.notebook.events.on('notebook_save_failed.Notebook', (_, err) => {
          window.__saveFailed.push(String((err && err.message) || err));
        });
        return {title: document.title, cells: Jupyter.notebook.get_cells().length};
      });
    },

    async type({text}) {
      await page.click('.cell .CodeMirror');
      await page.keyboard.down('Control');
      await page.keyboard.press('End');
      await page.keyboard.up('Control');
      await page.keyboard.type(text);
      return page.evaluate(() => ({dirty: Jupyter.notebook.dirty,
        source: Jupyter.notebook.get_cell(0).get_text()}));
    },

    async save({timeout_ms: timeout}) {
      const before = await page.evaluate(() => ({saved: window.__saved, failed: window.__saveFailed.length}));
      await page.keyboard.down('Control');
      await page.keyboard.press('s');
      await page.keyboard.up('Control');
      const outcome = await page.waitForFunction((before) => {
        const modal = document.querySelector('.modal.in');
        // Answered once Bootstrap's fade-in is over, so that a screenshot
        // shows the dialog as the user sees it.
        const settled = (el) => el && getComputedStyle(el).opacity === '1' &&
            ['none', 'matrix(1, 0, 0, 1, 0, 0)'].includes(getComputedStyle(el.querySelector('.modal-dialog') || el).transform);
        if (modal && settled(modal)) {
          const text = (sel) => { const el = modal.querySelector(sel); return el ? el.innerText.trim() : ''; };
          return {dialog: {title: text('.modal-title'), body: text('.modal-body')}};
        }
        if (window.__saveFailed.length > before.failed) {
          return {failed: window.__saveFailed[window.__saveFailed.length - 1]};
        }
        if (window.__saved > before.saved) {
          return {saved: true};
        }
        return false;
      }, {timeout: timeout || 20000, polling: 50}, before).then((h) => h.jsonValue(), (err) => {
        if (err.name === 'TimeoutError') return {timeout: true};
        throw err;
      });
      return outcome;
    },

    async screenshot({path}) {
      await page.screenshot({path});
      return {};
    },

    async close() {
      await browser.close();
      return {};
    },
  };

  const rl = readline.createInterface({input: process.stdin});
  for await (const line of rl) {
    if (!line.trim()) continue;
    let answer;
    try {
      const msg = JSON.parse(line);
      const f = commands[msg.cmd];
      if (!f) throw new Error(`unknown command ${msg.cmd}`);
      answer = Object.assign({ok: true}, await f(msg));
      if (msg.cmd === 'close') {
        process.stdout.write(JSON.stringify(answer) + '\n');
        return;
      }
    } catch (err) {
      answer = {ok: false, error: String((err && err.stack) || err)};
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
  await browser.close();
}

main().catch((err) => {
  process.stderr.write(`${(err && err.stack) || err}\n`);
  process.exit(1);
});
