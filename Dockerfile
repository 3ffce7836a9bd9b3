# dfgan inference server. The default image runs on CPU: the generator on ONNX Runtime (its CPU binary ships in
# onnxruntime-node), the text encoder on tfjs (tfjs-node when its native library installs, else wasm).
# On a GPU host, build from a CUDA 12 + cuDNN 9 runtime base (with Node 20 installed there) and fetch ONNX Runtime's
# CUDA provider at build time:
#   docker build --build-arg BASE=<cuda-12 cudnn-9 runtime image with node 20> --build-arg ONNXRUNTIME_CUDA=1 .
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
ARG ONNXRUNTIME_CUDA=
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci \
 && if [ -n "$ONNXRUNTIME_CUDA" ]; then ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install; fi \
 && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY proto ./proto
COPY models ./models
COPY tsconfig.json ./
EXPOSE 8080 8081
USER node
ENTRYPOINT ["node", "bin/dfgan.mjs"]
CMD ["serve"]
