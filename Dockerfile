# dfgan inference server. On a GPU host, build with the CUDA runtime base and tfjs-node-gpu is picked at run time:
#   docker build --build-arg BASE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04 ...  (install node 20 there)
# The default image runs on CPU (tfjs-node when its native library installs, else the wasm backend).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY proto ./proto
COPY models ./models
COPY tsconfig.json ./
EXPOSE 8080 8081
USER node
ENTRYPOINT ["node", "bin/dfgan.mjs"]
CMD ["serve"]
