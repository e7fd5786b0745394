#!/usr/bin/env node
/** `npm start`: the aggregator with configuration from the environment and flags. */
import { runServer } from './run.js';

await runServer(process.argv.slice(2));
