#!/usr/bin/env node
import { main } from '../dist/zdd-cli.js';

main(process.argv.slice(2));
