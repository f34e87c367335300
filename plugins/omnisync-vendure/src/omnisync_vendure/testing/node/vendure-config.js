// The Vendure that omnisync-vendure's tests run: SQLite (better-sqlite3), no admin UI, no
// e-mail, no asset server. Everything a run varies comes from the environment, set by
// omnisync_vendure.testing.VendureServer.
const { DefaultLogger, DefaultMoneyStrategy, LogLevel, dummyPaymentHandler } = require('@vendure/core');

// VENDURE_MONEY_PRECISION: the decimal places of every amount (Vendure's default is 2), as a
// shop selling in yen might set 0. It changes what the integers mean, not how they are stored.
class PrecisionMoneyStrategy extends DefaultMoneyStrategy {
  constructor(precision) {
    super();
    this.precision = precision;
  }
}

function vendureConfig({ synchronize }) {
  return {
    apiOptions: {
      hostname: '127.0.0.1',
      // 0: the operating system picks a free port; server.js prints the one it got.
      port: Number(process.env.VENDURE_PORT || 0),
      adminApiPath: 'admin-api',
      shopApiPath: 'shop-api',
    },
    authOptions: {
      // Bearer tokens (the vendure-auth-token header) and API keys (vendure-api-key), no
      // cookies: a client that keeps cookies must not stay logged in behind the adapter's back.
      tokenMethod: ['bearer', 'api-key'],
      requireVerification: false,
      superadminCredentials: {
        identifier: process.env.VENDURE_SUPERADMIN_USERNAME || 'superadmin',
        password: process.env.VENDURE_SUPERADMIN_PASSWORD || 'superadmin',
      },
    },
    dbConnectionOptions: {
      type: 'better-sqlite3',
      database: process.env.VENDURE_DB,
      synchronize,
      logging: false,
    },
    paymentOptions: { paymentMethodHandlers: [dummyPaymentHandler] },
    entityOptions: process.env.VENDURE_MONEY_PRECISION
      ? { moneyStrategy: new PrecisionMoneyStrategy(Number(process.env.VENDURE_MONEY_PRECISION)) }
      : {},
    logger: new DefaultLogger({ level: LogLevel[process.env.VENDURE_LOG_LEVEL || 'Warn'] }),
    plugins: [],
  };
}

module.exports = { vendureConfig };
