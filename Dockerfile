# Multi-stage: build on Debian 12 with the same packages as scripts/setup, run on debian-slim
# with only the runtime libraries, as a non-root user.
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ libboost1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev \
      libssl-dev libyaml-cpp-dev nlohmann-json3-dev libre2-dev libcrypt-dev libcap2-bin libjemalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF \
    && cmake --build /build --target sluice \
    && install -m 0755 /build/sluice /usr/local/bin/sluice \
    && setcap cap_net_bind_service=+ep /usr/local/bin/sluice

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libboost-program-options1.81.0 libboost-url1.81.0 libssl3 libyaml-cpp0.7 libre2-9 libcrypt1 libjemalloc2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/sluice /usr/local/bin/sluice
USER 65532:65532
EXPOSE 80 443 10254
ENTRYPOINT ["/usr/local/bin/sluice"]
