#!/usr/bin/env node
import { main } from '../dist/index.js';

await main({ argv: process.argv.slice(2), root: import.meta.url });
