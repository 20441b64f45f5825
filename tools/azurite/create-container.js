#!/usr/bin/env node
// Creates a blob container on Azurite (or any account reachable with a shared key), using
// only Node's standard library: node create-container.js ENDPOINT CONTAINER
//   ENDPOINT   the blob service, e.g. http://127.0.0.1:10000 (the account is appended)
// The account and key are Azurite's well-known ones unless AZURE_STORAGE_ACCOUNT_NAME and
// AZURE_STORAGE_ACCOUNT_KEY are set. An existing container is not an error.
'use strict';
const crypto = require('crypto');
const http = require('http');
const https = require('https');

const [endpoint, container] = process.argv.slice(2);
if (!endpoint || !container) {
  console.error('usage: create-container.js ENDPOINT CONTAINER');
  process.exit(2);
}
const account = process.env.AZURE_STORAGE_ACCOUNT_NAME || 'devstoreaccount1';
const key = process.env.AZURE_STORAGE_ACCOUNT_KEY ||
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const url = new URL(`${endpoint.replace(/\/+$/, '')}/${account}/${container}?restype=container`);
const date = new Date().toUTCString();
const version = '2021-08-06';
const toSign = ['PUT', '', '', '', '', '', '', '', '', '', '', '',
  `x-ms-date:${date}`, `x-ms-version:${version}`,
  `/${account}${url.pathname}`, 'restype:container'].join('\n');
const signature = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(toSign, 'utf8').digest('base64');
const client = url.protocol === 'https:' ? https : http;
const req = client.request(url, {
  method: 'PUT',
  headers: {
    'x-ms-date': date,
    'x-ms-version': version,
    'Content-Length': 0,
    Authorization: `SharedKey ${account}:${signature}`,
  },
}, (res) => {
  let body = '';
  res.on('data', (d) => { body += d; });
  res.on('end', () => {
    if (res.statusCode === 201 || res.statusCode === 409) {
      process.exit(0);
    }
    console.error(`create-container: ${url.origin}/${account}/${container}: HTTP ${res.statusCode} ${body.split('\n')[0]}`);
    process.exit(1);
  });
});
req.on('error', (e) => {
  console.error(`create-container: ${url.origin}: ${e.message}`);
  process.exit(1);
});
req.end();
