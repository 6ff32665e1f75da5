// Starts Unleash for rollwatch's integration tests. Everything comes from the environment set
// by .ci/start-unleash.sh: loopback ports, the database, and the admin token to create.
// No outbound calls: version checks and telemetry are off.
'use strict';

process.env.SEND_TELEMETRY = 'false';
process.env.CHECK_VERSION = 'false';

const unleash = require('unleash-server');

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`start.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

unleash
  .start({
    db: {
      host: '127.0.0.1',
      port: Number(need('RW_PG_PORT')),
      user: 'postgres',
      password: 'unused-trust-auth',
      database: 'unleash',
      ssl: false,
    },
    server: { host: '127.0.0.1', port: Number(need('RW_UNLEASH_PORT')) },
    versionCheck: { enable: false },
    telemetry: false,
    logLevel: 'warn',
    authentication: {
      initApiTokens: [
        {
          environment: '*',
          project: '*',
          secret: need('RW_UNLEASH_TOKEN'),
          type: 'admin',
          tokenName: 'rollwatch-tests',
        },
      ],
    },
  })
  .catch((err) => {
    console.error('start.js: Unleash failed to start:', err && err.message);
    process.exit(1);
  });
