// Creates the schema and Vendure's standard initial data (countries, zones, taxes, shipping,
// a dummy payment method) in VENDURE_DB. Run once per cache; every server starts from a copy.
const { bootstrap } = require('@vendure/core');
const { populate } = require('@vendure/core/cli');
const { vendureConfig } = require('./vendure-config');

const initialData = require(process.env.VENDURE_INITIAL_DATA);
// Collections refer to facets that exist only with Vendure's sample catalogue.
initialData.collections = [];

const config = vendureConfig({ synchronize: true });
populate(() => bootstrap({ ...config, apiOptions: { ...config.apiOptions, port: 0 } }), initialData)
  .then(app => app.close())
  .then(() => {
    console.log('VENDURE POPULATED');
    process.exit(0);
  })
  .catch(error => {
    console.error(error);
    process.exit(1);
  });
