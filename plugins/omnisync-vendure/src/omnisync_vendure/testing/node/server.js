// Starts Vendure on VENDURE_DB and prints "VENDURE READY <port>" once both APIs answer.
const { bootstrap } = require('@vendure/core');
const { vendureConfig } = require('./vendure-config');

bootstrap(vendureConfig({ synchronize: false }))
  .then(app => {
    const stop = () => app.close().then(() => process.exit(0), () => process.exit(1));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    console.log(`VENDURE READY ${app.getHttpServer().address().port}`);
  })
  .catch(error => {
    console.error(error);
    process.exit(1);
  });
