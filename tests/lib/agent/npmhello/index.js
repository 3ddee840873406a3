module.exports = () => "hello from a local npm package";
