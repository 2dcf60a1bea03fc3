// ferry-loader/workdir.js: everything the Node loader tells Ferry through the SpawningKit work
// directory (loaders/PROTOCOL.md §1): step states and times, the spawn error report, environment
// annotations, properties.json and the `finish` FIFO. Writes are synchronous and small; a write
// that fails (the work directory already removed) only prints a warning.
'use strict';

const fs = require('fs');
const path = require('path');

const STEPS = Object.freeze({
  EXEC_WRAPPER: 'subprocess_exec_wrapper',
  PREPARATION: 'subprocess_wrapper_preparation',
  APP_LOAD: 'subprocess_app_load_or_exec',
  LISTEN: 'subprocess_listen',
});

// Seconds on CLOCK_MONOTONIC (libuv's hrtime clock on Linux), as a decimal string.
function monotonic(offsetSeconds) {
  let [sec, nsec] = process.hrtime();
  if (offsetSeconds) {
    const ns = BigInt(sec) * 1000000000n + BigInt(nsec) - BigInt(Math.round(offsetSeconds * 1e9));
    sec = Number(ns / 1000000000n);
    nsec = Number(ns % 1000000000n);
  }
  return `${sec}.${String(nsec).padStart(9, '0').slice(0, 6)}`;
}

class WorkDir {
  constructor(dir) {
    this.dir = dir;
  }

  file(...parts) {
    return path.join(this.dir, ...parts);
  }

  write(file, contents) {
    try {
      fs.writeFileSync(file, contents, { mode: 0o600 });
      return true;
    } catch (e) {
      process.stderr.write(`Ferry node loader: warning: cannot write ${file}: ${e.message}\n`);
      return false;
    }
  }

  // The step's directory exists already (Ferry creates them); `state` is written last.
  stepBegin(step, at = monotonic()) {
    const dir = this.file('response', 'steps', step);
    this.write(path.join(dir, 'begin_time_monotonic'), at);
    this.write(path.join(dir, 'state'), 'STEP_IN_PROGRESS');
  }

  stepEnd(step, state, at = monotonic()) {
    const dir = this.file('response', 'steps', step);
    if (!fs.existsSync(path.join(dir, 'begin_time_monotonic'))) {
      this.write(path.join(dir, 'begin_time_monotonic'), at);
    }
    this.write(path.join(dir, 'end_time_monotonic'), at);
    this.write(path.join(dir, 'state'), state);
  }

  // report: {category, summary, problem, solution, details}; descriptions are plain text.
  writeError(report) {
    const dir = this.file('response', 'error');
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (_) {
      // write() below reports the failure.
    }
    this.write(path.join(dir, 'category'), report.category || 'INTERNAL_ERROR');
    this.write(path.join(dir, 'summary'), oneLine(report.summary));
    if (report.problem) this.write(path.join(dir, 'problem_description.txt'), report.problem);
    if (report.solution) this.write(path.join(dir, 'solution_description.txt'), report.solution);
    if (report.details) this.write(path.join(dir, 'advanced_problem_details'), report.details);
  }

  annotate(name, text) {
    const dir = this.file('envdump', 'annotations');
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (_) {
      // write() below reports the failure.
    }
    this.write(path.join(dir, name), text);
  }

  writeProperties(properties) {
    return this.write(this.file('response', 'properties.json'), JSON.stringify(properties));
  }

  // Writes "1" into the finish FIFO. Ferry holds its read end open, so a non-blocking open
  // succeeds at once; without a reader (ENXIO) the open waits on the thread pool instead of
  // blocking the event loop.
  signalFinish(callback) {
    const fifo = this.file('response', 'finish');
    const done = (err) => {
      if (err) process.stderr.write(`Ferry node loader: cannot write ${fifo}: ${err.message}\n`);
      if (callback) callback(err || null);
    };
    let fd;
    try {
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if (e.code !== 'ENXIO') return done(e);
      fs.open(fifo, 'w', (err, asyncFd) => {
        if (err) return done(err);
        fs.write(asyncFd, '1', (werr) => {
          fs.close(asyncFd, () => done(werr));
        });
      });
      return undefined;
    }
    try {
      fs.writeSync(fd, '1');
    } catch (e) {
      fs.closeSync(fd);
      return done(e);
    }
    fs.closeSync(fd);
    return done(null);
  }
}

function oneLine(text) {
  return String(text == null ? '' : text).replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

module.exports = { WorkDir, STEPS, monotonic, oneLine };
